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
//   The Kafka side: Relay.java.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;

public final class ConfluentInterop {
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final Map<Integer, Schema> SCHEMAS = new HashMap<>();
  private static String authorization = null;
  private static String registry;

  public static void main(String[] args) throws Exception {
    registry = args[1];
    if (args.length > 5 && !args[5].isEmpty()) {
      authorization = "Basic " + java.util.Base64.getEncoder().encodeToString(
          args[5].getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    Relay.run(args[0], args[2], args[3], Integer.parseInt(args[4]), ConfluentInterop::read);
  }

  /** A Confluent-framed value: magic byte 0, the writer schema's id (big-endian), the Avro body. */
  private static Relay.Decoded read(byte[] message) throws Exception {
    ByteBuffer value = ByteBuffer.wrap(message);
    byte magic = value.get();
    if (magic != 0) {
      throw new IllegalArgumentException("magic byte " + magic + ", not 0");
    }
    int id = value.getInt();
    Schema schema = schema(id);
    GenericDatumReader<GenericRecord> reader = new GenericDatumReader<>(schema);
    GenericRecord record = reader.read(null, DecoderFactory.get().binaryDecoder(
        message, value.position(), value.remaining(), null));
    return new Relay.Decoded(record, " id=" + id);
  }

  private static Schema schema(int id) throws Exception {
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
