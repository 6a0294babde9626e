// Reads Attain's Avro messages from Kafka with the Apache Avro Java library and writes them back
// framed by Java: the interop check of tests/integration/test_avro_java_interop.py.
//
// Usage: AvroInterop <bootstrap> <schema-dir> <in-topic> <out-topic> <count>
//   Consumes <count> messages of <in-topic> from the beginning of every partition, decodes each as
//   Avro single-object encoding with every schema version found in <schema-dir> (v1.avsc, v2.avsc...),
//   re-encodes it with the newest version and produces it, same key, to <out-topic>.
//   Prints one line per message: its offset and the record as Java's GenericData renders it.
//   Exits 1 on the first message Java cannot decode.
//
// The decoder is the payroll example's (examples/payroll/PayoutsConsumer.java, compiled with this tool), so
// the code a payroll team copies is the code checked here against Attain's framing. The Kafka side: Relay.java.

import java.io.File;

import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;

public final class AvroInterop {
  public static void main(String[] args) throws Exception {
    BinaryMessageDecoder<GenericRecord> decoder = PayoutsConsumer.decoder(new File(args[1]));
    Relay.run(args[0], args[2], args[3], Integer.parseInt(args[4]),
              value -> new Relay.Decoded(decoder.decode(value), ""));
  }
}
