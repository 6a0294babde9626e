// The Kafka side the interop tools share (AvroInterop, ConfluentInterop): read <count> messages of a topic
// from the beginning of every partition, decode each with the tool's reader, print it, and write it back
// single-object framed by Apache Avro Java (its own schema, same key) to another topic.
//
// Prints one line per message: "<partition>/<offset><label> <record>" (the record as GenericData renders it);
// exits 1 on the first message the reader cannot decode, or when fewer than <count> arrive within 60 s.

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

final class Relay {
  /** A decoded message and what to print after its position (e.g. " id=3"; "" for nothing). */
  record Decoded(GenericRecord record, String label) {}

  interface Reader {
    Decoded read(byte[] value) throws Exception;
  }

  private Relay() {}

  static void run(String bootstrap, String inTopic, String outTopic, int count, Reader reader) throws Exception {
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
          Decoded decoded;
          try {
            decoded = reader.read(message.value());
          } catch (Exception error) {
            System.out.println("UNREADABLE " + message.partition() + "/" + message.offset() + " " + error);
            System.exit(1);
            return;
          }
          GenericRecord record = decoded.record();
          System.out.println(message.partition() + "/" + message.offset() + decoded.label() + " " + record);
          ByteBuffer encoded = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), record.getSchema())
              .encode(record);
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
}
