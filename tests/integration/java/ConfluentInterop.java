// Reads Confluent Schema Registry framed Avro from Kafka as a Kafka Connect style consumer does, with the
// Apache Avro Java library: the interop check of tests/integration/test_confluent_registry.py.
//
// Usage: ConfluentInterop <bootstrap> <registry-url> <in-topic> <out-topic> <count> [<user:password>]
//   Consumes <count> messages of <in-topic> from the beginning of every partition. Each must start with
//   magic byte 0 and a 4-byte big-endian schema id; the writer schema is fetched from the registry
//   (GET <registry-url>/schemas/ids/<id>, once per id, with Basic auth when credentials are given) and the rest is decoded as an Avro binary body.
//   Each record is written back, same key, to <out-topic> in single-object encoding
//   (BinaryMessageEncoder with the writer schema), so the caller can compare it with what it sent.
//   Prints one line per message (its offset, schema id and the record); exits 1 on the first it cannot read.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class ConfluentInterop {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final Map<Integer, Schema> SCHEMAS = new HashMap<>();
  private static String authorization = null;

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String registry = args[1];
    String inTopic = args[2];
    String outTopic = args[3];
    int count = Integer.parseInt(args[4]);
    if (args.length > 5 && !args[5].isEmpty()) {
      authorization = "Basic " + java.util.Base64.getEncoder().encodeToString(
          args[5].getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    Properties consumerProps = new Properties();
    consumerProps.put("bootstrap.servers", bootstrap);
    consumerProps.put("enable.auto.commit", "false");
    Properties producerProps = new Properties();
    producerProps.put("bootstrap.servers", bootstrap);
    producerProps.put("enable.idempotence", "false");
    producerProps.put("acks", "all");

    try (KafkaConsumer<byte[], byte[]> consumer =
             new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer());
         KafkaProducer<byte[], byte[]> producer =
             new KafkaProducer<>(producerProps, new ByteArraySerializer(), new ByteArraySerializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(inTopic, Duration.ofSeconds(30))) {
        partitions.add(new TopicPartition(inTopic, info.partition()));
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      int seen = 0;
      long deadline = System.currentTimeMillis() + 60_000;
      while (seen < count && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<byte[], byte[]> message : consumer.poll(Duration.ofMillis(500))) {
          ByteBuffer value = ByteBuffer.wrap(message.value());
          GenericRecord record;
          Schema schema;
          int id;
          try {
            byte magic = value.get();
            if (magic != 0) {
              throw new IllegalArgumentException("magic byte " + magic + ", not 0");
            }
            id = value.getInt();
            schema = schema(registry, id);
            GenericDatumReader<GenericRecord> reader = new GenericDatumReader<>(schema);
            record = reader.read(null, DecoderFactory.get().binaryDecoder(
                message.value(), value.position(), value.remaining(), null));
          } catch (Exception error) {
            System.out.println("UNREADABLE " + message.partition() + "/" + message.offset() + " " + error);
            System.exit(1);
            return;
          }
          System.out.println(message.partition() + "/" + message.offset() + " id=" + id + " " + record);
          ByteBuffer encoded = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(record);
          byte[] bytes = new byte[encoded.remaining()];
          encoded.get(bytes);
          producer.send(new ProducerRecord<>(outTopic, 0, message.key(), bytes)).get();
          seen++;
        }
      }
      System.out.println("decoded " + seen + " of " + count);
      System.exit(seen == count ? 0 : 1);
    }
  }

  private static Schema schema(String registry, int id) throws Exception {
    Schema known = SCHEMAS.get(id);
    if (known != null) {
      return known;
    }
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
        .header("Accept", "application/vnd.schemaregistry.v1+json").GET();
    if (authorization != null) {
      builder.header("Authorization", authorization);
    }
    HttpRequest request = builder.build();
    HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 200) {
      throw new IllegalStateException("registry answered " + response.statusCode() + " for id " + id);
    }
    String text = new ObjectMapper().readTree(response.body()).get("schema").asText();
    Schema schema = new Schema.Parser().parse(text);
    SCHEMAS.put(id, schema);
    return schema;
  }
}
