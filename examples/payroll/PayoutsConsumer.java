// A payroll integration reading one period's payouts from Kafka, in Java (Apache Avro + kafka-clients).
//
// It needs only the published contract, not Attain: the .avsc files of payouts and payouts.control
// (schemas/ in Attain's repository).
//
//   javac -cp avro.jar:kafka-clients.jar:... PayoutsConsumer.java
//   java -cp .:avro.jar:kafka-clients.jar:... PayoutsConsumer BOOTSTRAP SCHEMAS_DIR SCOPE PERIOD [TIMEOUT_SECONDS]
//
// It reads both topics from the beginning, keeps the first copy of each payout line (dedupes on
// payout_id), waits for the period's control record and for as many lines as it announces, then
// checks the line count and the totals per currency against it. It prints one row per employee,
// currency and earning code:
//
//   PAY <hr_id or -> <rep_id> <currency> <earning_code> <amount>
//
// then "COMPLETE <scope>/<period> lines=N duplicates=D <CUR>=<total>..." and exits 0;
// "MISMATCH ..." (exit 1) when the lines do not add up to the control record;
// "INCOMPLETE ..." (exit 2) when the period is not complete within the timeout.
// Run by tests/integration/test_payroll_contract.py against a real broker.

import java.nio.charset.StandardCharsets;
import java.io.File;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class PayoutsConsumer {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    File schemas = new File(args[1]);
    String scope = args[2];
    String period = args[3];
    long timeoutMillis = (long) (1000 * (args.length > 4 ? Double.parseDouble(args[4]) : 60));

    BinaryMessageDecoder<GenericRecord> lineDecoder = decoder(new File(schemas, "payouts"));
    BinaryMessageDecoder<GenericRecord> controlDecoder = decoder(new File(schemas, "payouts.control"));
    String prefix = scope + "/" + period + "/";
    String controlId = prefix + "control";

    Map<String, GenericRecord> lines = new TreeMap<>();  // payout_id -> first copy
    GenericRecord control = null;
    int duplicates = 0;
    Properties props = new Properties();
    props.put("bootstrap.servers", bootstrap);
    props.put("enable.auto.commit", "false");
    try (KafkaConsumer<byte[], byte[]> consumer =
             new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : new String[] {"payouts", "payouts.control"}) {
        for (PartitionInfo info : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
          partitions.add(new TopicPartition(topic, info.partition()));
        }
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      long deadline = System.currentTimeMillis() + timeoutMillis;
      while (System.currentTimeMillis() < deadline
             && (control == null || lines.size() < (Integer) control.get("line_count"))) {
        for (ConsumerRecord<byte[], byte[]> message : consumer.poll(Duration.ofMillis(500))) {
          // The key names the line (payout_id) or the control record (control_id): other periods' messages
          // are skipped before decoding, whatever framing their writer chose.
          String key = message.key() == null ? "" : new String(message.key(), StandardCharsets.UTF_8);
          if (!key.startsWith(prefix) && !key.equals(controlId)) {
            continue;
          }
          if (message.topic().equals("payouts.control")) {
            GenericRecord record = controlDecoder.decode(message.value());
            if (record.get("control_id").toString().equals(controlId)) {
              control = record;
            }
          } else {
            GenericRecord record = lineDecoder.decode(message.value());
            String payoutId = record.get("payout_id").toString();
            if (!payoutId.startsWith(prefix)) {
              continue;
            }
            if (lines.putIfAbsent(payoutId, record) != null) {
              duplicates++;  // a re-published copy: byte-identical, keep the first
            }
          }
        }
      }
    }

    if (control == null || lines.size() < (Integer) control.get("line_count")) {
      String announced = control == null ? "no control record" : "control record says " + control.get("line_count");
      System.out.println("INCOMPLETE " + scope + "/" + period + " lines=" + lines.size() + " (" + announced + ")");
      System.exit(2);
    }

    List<String> problems = new ArrayList<>();
    Map<String, BigDecimal> totals = new TreeMap<>();
    Map<String, Integer> counts = new TreeMap<>();
    for (GenericRecord line : lines.values()) {
      String currency = line.get("currency").toString();
      BigDecimal amount = new BigDecimal(line.get("amount").toString());
      totals.merge(currency, amount, BigDecimal::add);
      counts.merge(currency, 1, Integer::sum);
      List<?> earnings = (List<?>) line.get("earnings");
      if (!earnings.isEmpty()) {
        BigDecimal parts = BigDecimal.ZERO;
        for (Object part : earnings) {
          parts = parts.add(new BigDecimal(((GenericRecord) part).get("amount").toString()));
        }
        if (parts.compareTo(amount) != 0) {
          problems.add(line.get("payout_id") + ": earning codes sum to " + parts + ", line says " + amount);
        }
      }
    }
    if (lines.size() != (Integer) control.get("line_count")) {
      problems.add(lines.size() + " lines, control record says " + control.get("line_count"));
    }
    List<?> controlTotals = (List<?>) control.get("totals");
    StringBuilder sums = new StringBuilder();
    if (controlTotals.size() != totals.size()) {
      problems.add("currencies " + totals.keySet() + " but control record has " + controlTotals.size());
    }
    for (Object item : controlTotals) {
      GenericRecord total = (GenericRecord) item;
      String currency = total.get("currency").toString();
      BigDecimal expected = new BigDecimal(total.get("amount").toString());
      int expectedCount = (Integer) total.get("line_count");
      BigDecimal actual = totals.get(currency);
      if (actual == null || actual.compareTo(expected) != 0 || counts.get(currency) != expectedCount) {
        problems.add(currency + ": lines " + counts.get(currency) + " summing to " + actual
                     + ", control record " + expectedCount + " summing to " + expected);
      }
      sums.append(' ').append(currency).append('=').append(total.get("amount"));
    }
    if (!problems.isEmpty()) {
      System.out.println("MISMATCH " + scope + "/" + period + " " + String.join("; ", problems));
      System.exit(1);
    }

    for (GenericRecord line : lines.values()) {
      Object hrId = line.get("hr_id");
      String head = "PAY " + (hrId == null ? "-" : hrId.toString()) + " " + line.get("rep_id") + " "
                    + line.get("currency") + " ";
      List<?> earnings = (List<?>) line.get("earnings");
      if (earnings.isEmpty()) {
        System.out.println(head + "- " + line.get("amount"));
      }
      for (Object part : earnings) {
        GenericRecord earning = (GenericRecord) part;
        System.out.println(head + earning.get("earning_code") + " " + earning.get("amount"));
      }
    }
    System.out.println("COMPLETE " + scope + "/" + period + " lines=" + lines.size() + " duplicates=" + duplicates
                       + sums);
    System.exit(0);
  }

  /** A decoder knowing every version of a topic's schema (v1.avsc, v2.avsc...), reading into the newest.
   *  (Attain's own Avro interop test reads every topic with it: tests/integration/java/AvroInterop.java.) */
  static BinaryMessageDecoder<GenericRecord> decoder(File folder) throws Exception {
    File[] files = folder.listFiles((dir, name) -> name.matches("v[0-9]+\\.avsc"));
    Arrays.sort(files, (a, b) -> Integer.compare(version(a), version(b)));
    SchemaStore.Cache store = new SchemaStore.Cache();
    Schema latest = null;
    for (File file : files) {
      latest = new Schema.Parser().parse(file);
      store.addSchema(latest);
    }
    return new BinaryMessageDecoder<>(GenericData.get(), latest, store);
  }

  private static int version(File file) {
    String name = file.getName();
    return Integer.parseInt(name.substring(1, name.length() - ".avsc".length()));
  }
}
