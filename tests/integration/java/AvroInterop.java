// Reads Attain's Avro messages from Kafka with the Apache Avro Java library and writes them back
// framed by Java: the interop check of tests/integration/test_avro_java_interop.py.
//
// Usage: AvroInterop <bootstrap> <schema-dir> <in-topic> <out-topic> <count>
//   Consumes <count> messages of <in-topic> from the beginning of every partition, decodes each as
//   Avro single-object encoding with every schema version found in <schema-dir> (v1.avsc, v2.avsc...),
//   re-encodes it with the newest version and produces it, same key, to <out-topic>.
//   Prints one line per message: its offset and the record as Java's GenericData renders it.
//   Exits 1 on the first message Java cannot decode.

import java.io.File;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class AvroInterop {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    File schemaDir = new File(args[1]);
    String inTopic = args[2];
    String outTopic = args[3];
    int count = Integer.parseInt(args[4]);

    File[] files = schemaDir.listFiles((dir, name) -> name.matches("v[0-9]+\\.avsc"));
    Arrays.sort(files, (a, b) -> Integer.compare(version(a), version(b)));
    SchemaStore.Cache store = new SchemaStore.Cache();
    Schema latest = null;
    for (File file : files) {
      latest = new Schema.Parser().parse(file);
      store.addSchema(latest);
    }
    BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), latest, store);
    BinaryMessageEncoder<GenericRecord> encoder = new BinaryMessageEncoder<>(GenericData.get(), latest);

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
          GenericRecord record;
          try {
            record = decoder.decode(message.value());
          } catch (Exception error) {
            System.out.println("UNREADABLE " + message.partition() + "/" + message.offset() + " " + error);
            System.exit(1);
            return;
          }
          System.out.println(message.partition() + "/" + message.offset() + " " + record);
          ByteBuffer encoded = encoder.encode(record);
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

  private static int version(File file) {
    String name = file.getName();
    return Integer.parseInt(name.substring(1, name.length() - ".avsc".length()));
  }
}
