// Maven's own version order (ComparableVersion, from the maven-artifact jar
// that Debian's maven ships) answering a differential batch:
// java -cp maven-artifact.jar Maven.java BATCH.json prints
// {valid, rank, range_valid, satisfies}. Every string is a Maven version;
// ranges are not asked (OSV ranges are events, not Maven's range syntax).
// The order is not transitive, so ranks from a sort can contradict it:
// java -cp maven-artifact.jar Maven.java compare PAIRS.json, given
// {left, right}, prints {order}: compareTo's sign for each pair.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class Maven {
    public static void main(String[] args) throws Exception {
        String json = Files.readString(Path.of(args[args.length - 1]), StandardCharsets.UTF_8);
        if (args[0].equals("compare")) {
            List<String> left = strings(json, json.indexOf("\"left\""));
            List<String> right = strings(json, json.indexOf("\"right\""));
            StringBuilder out = new StringBuilder("{\"order\":[");
            for (int i = 0; i < left.size(); i++) {
                int order = new ComparableVersion(left.get(i)).compareTo(new ComparableVersion(right.get(i)));
                out.append(i > 0 ? "," : "").append(Integer.signum(order));
            }
            System.out.print(out.append("]}"));
            return;
        }
        List<String> versions = strings(json, json.indexOf("\"versions\""));
        List<ComparableVersion> parsed = new ArrayList<>();
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < versions.size(); i++) {
            parsed.add(new ComparableVersion(versions.get(i)));
            order.add(i);
        }
        order.sort(Comparator.comparing(parsed::get));
        int[] rank = new int[versions.size()];
        int current = 0;
        for (int n = 0; n < order.size(); n++) {
            if (n > 0 && parsed.get(order.get(n - 1)).compareTo(parsed.get(order.get(n))) != 0) {
                current++;
            }
            rank[order.get(n)] = current;
        }
        StringBuilder out = new StringBuilder("{\"valid\":[");
        for (int i = 0; i < versions.size(); i++) {
            out.append(i > 0 ? ",true" : "true");
        }
        out.append("],\"rank\":[");
        for (int i = 0; i < versions.size(); i++) {
            out.append(i > 0 ? "," : "").append(rank[i]);
        }
        out.append("],\"range_valid\":[],\"satisfies\":[]}");
        System.out.print(out);
    }

    /** The JSON array of strings that follows `at`. */
    static List<String> strings(String json, int at) {
        List<String> out = new ArrayList<>();
        int i = json.indexOf('[', at) + 1;
        while (json.charAt(i) != ']') {
            if (json.charAt(i) != '"') {
                i++;
                continue;
            }
            StringBuilder s = new StringBuilder();
            for (i++; json.charAt(i) != '"'; i++) {
                char c = json.charAt(i);
                if (c == '\\') {
                    char e = json.charAt(++i);
                    switch (e) {
                        case 'n': s.append('\n'); break;
                        case 't': s.append('\t'); break;
                        case 'r': s.append('\r'); break;
                        case 'b': s.append('\b'); break;
                        case 'f': s.append('\f'); break;
                        case 'u': s.append((char) Integer.parseInt(json.substring(i + 1, i + 5), 16)); i += 4; break;
                        default: s.append(e);
                    }
                } else {
                    s.append(c);
                }
            }
            out.add(s.toString());
            i++;
        }
        return out;
    }
}
