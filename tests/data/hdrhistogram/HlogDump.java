// The oracle of tests/test_interop.py: prints, as JSON, what HdrHistogram's own Java
// HistogramLogReader decodes from a log. Regenerate java_reference.json with
//   javac -cp HdrHistogram-2.2.2.jar HlogDump.java
//   java -cp HdrHistogram-2.2.2.jar:. HlogDump FILE.hlog
// (the jar from Maven Central, org.hdrhistogram:HdrHistogram:2.2.2).
import java.io.FileInputStream;
import org.HdrHistogram.*;

public class HlogDump {
    public static void main(String[] args) throws Exception {
        HistogramLogReader reader = new HistogramLogReader(new FileInputStream(args[0]));
        Histogram accumulated = new Histogram(3);
        StringBuilder out = new StringBuilder("{\"intervals\": [");
        EncodableHistogram e;
        long total = 0;
        int n = 0;
        while ((e = reader.nextIntervalHistogram()) != null) {
            Histogram h = (Histogram) e;
            if (n++ > 0) out.append(", ");
            out.append("{\"start_ms\": ").append(h.getStartTimeStamp())
               .append(", \"end_ms\": ").append(h.getEndTimeStamp())
               .append(", \"total_count\": ").append(h.getTotalCount())
               .append(", \"max\": ").append(h.getMaxValue())
               .append(", \"min_nonzero\": ").append(h.getMinNonZeroValue())
               .append(", \"p50\": ").append(h.getValueAtPercentile(50.0))
               .append(", \"p99_9\": ").append(h.getValueAtPercentile(99.9))
               .append(", \"significant_digits\": ").append(h.getNumberOfSignificantValueDigits())
               .append(", \"lowest\": ").append(h.getLowestDiscernibleValue())
               .append(", \"values\": [");
            int k = 0;
            for (HistogramIterationValue v : h.recordedValues()) {
                if (k++ > 0) out.append(", ");
                out.append("[").append(v.getValueIteratedTo()).append(", ")
                   .append(v.getCountAtValueIteratedTo()).append("]");
            }
            out.append("]}");
            total += h.getTotalCount();
            accumulated.add(h);
        }
        out.append("], \"histograms\": ").append(n)
           .append(", \"total_count\": ").append(total)
           .append(", \"p99_9\": ").append(accumulated.getValueAtPercentile(99.9))
           .append(", \"max\": ").append(accumulated.getMaxValue())
           .append(", \"start_time_sec\": ").append(reader.getStartTimeSec())
           .append("}");
        System.out.println(out);
    }
}
