// Command benchreport reads `go test -bench` output (stdin, or the files
// named) and prints the figures of BENCHMARKS.md: every "<side>-ratio"
// metric that internal/benchcmp and the service benchmark report, against
// its target, then the end-to-end, scaling and encoding figures. A metric
// reported by several runs of a benchmark (-count) is summarized by its
// median. It exits 1 only if the output holds no ratio at all; missed
// targets are printed as MISS, to be explained in BENCHMARKS.md.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// targets are the targets: the least ratio of a side's
// throughput to the raw client's (or the floor's) in a benchmark whose
// name (without the package) matches.
var targets = []struct {
	bench *regexp.Regexp
	side  string
	min   float64
}{
	{regexp.MustCompile(`^streaming\.Publish$`), "typed", 0.95},
	{regexp.MustCompile(`^streaming\.Publish$`), "streaming", 0.95},
	{regexp.MustCompile(`^streaming\.PublishBatch/`), "typed", 0.90},
	{regexp.MustCompile(`^streaming\.PublishBatch/`), "streaming", 0.90},
	{regexp.MustCompile(`^streaming\.Consume$`), "typed", 0.90},
	{regexp.MustCompile(`^mongostore\.(Create|Get|Update)$`), "lib", 0.90},
	{regexp.MustCompile(`^tickets-service\.Service/mongo-stan/`), "service", 0.70},
	{regexp.MustCompile(`^tickets-service\.Service/mongo-stan/`), "service-sustained", 0.70},
}

type bench struct {
	name    string // package.Benchmark/sub, without "Benchmark" and -procs
	metrics map[string][]float64
}

var procs = regexp.MustCompile(`-\d+$`)

func main() {
	var r io.Reader = os.Stdin
	if len(os.Args) > 1 {
		var rs []io.Reader
		for _, name := range os.Args[1:] {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchreport:", err)
				os.Exit(2)
			}
			defer f.Close()
			rs = append(rs, f)
		}
		r = io.MultiReader(rs...)
	}
	benches, extra := parse(r)
	if !report(os.Stdout, benches, extra) {
		fmt.Fprintln(os.Stderr, "benchreport: no ratio in the benchmark output (were the servers there?)")
		os.Exit(1)
	}
}

func parse(r io.Reader) ([]*bench, []string) {
	var order []*bench
	byName := map[string]*bench{}
	var extra []string
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = pkgName(p)
			continue
		}
		if strings.HasPrefix(line, "BenchmarkScale: ") {
			extra = append(extra, line)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := pkg + "." + strings.TrimPrefix(procs.ReplaceAllString(f[0], ""), "Benchmark")
		b := byName[name]
		if b == nil {
			b = &bench{name: name, metrics: map[string][]float64{}}
			byName[name] = b
			order = append(order, b)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				b.metrics[f[i+1]] = append(b.metrics[f[i+1]], v)
			}
		}
	}
	return order, extra
}

// pkgName names a package's benchmarks: by the last element of its
// path, but a command's system tests (examples/tickets-service/systemtest)
// by the command, as they were named when they lived in its package.
func pkgName(path string) string {
	dir, name := "", path
	if i := strings.LastIndex(path, "/"); i >= 0 {
		dir, name = path[:i], path[i+1:]
	}
	if name == "systemtest" && dir != "" {
		return dir[strings.LastIndex(dir, "/")+1:]
	}
	return name
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (b *bench) get(unit string) (float64, bool) {
	xs, ok := b.metrics[unit]
	if !ok || len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

func report(w io.Writer, benches []*bench, extra []string) bool {
	fmt.Fprintln(w, "\n== Ratios: the library's throughput over the raw client's (the floor's, end to end), same run, median of alternating rounds")
	fmt.Fprintf(w, "%-52s %-18s %8s %8s  %s\n", "benchmark", "side", "ratio", "target", "")
	any := false
	met, missed := 0, 0
	for _, b := range benches {
		var units []string
		for u := range b.metrics {
			if strings.HasSuffix(u, "-ratio") {
				units = append(units, u)
			}
		}
		slices.Sort(units)
		for _, u := range units {
			any = true
			side := strings.TrimSuffix(u, "-ratio")
			v, _ := b.get(u)
			target, verdict := "-", ""
			for _, t := range targets {
				if t.side == side && t.bench.MatchString(b.name) {
					target = fmt.Sprintf("%.2f", t.min)
					if v >= t.min {
						verdict = "ok"
						met++
					} else {
						verdict = "MISS"
						missed++
					}
				}
			}
			fmt.Fprintf(w, "%-52s %-18s %8.3f %8s  %s\n", b.name, side, v, target, verdict)
		}
	}
	fmt.Fprintf(w, "targets met: %d, missed: %d\n", met, missed)

	section := func(title string, match func(*bench) bool, row func(*bench) string) {
		printed := false
		for _, b := range benches {
			if !match(b) {
				continue
			}
			if !printed {
				fmt.Fprintln(w, "\n== "+title)
				printed = true
			}
			fmt.Fprintf(w, "%-52s %s\n", b.name, row(b))
		}
	}
	section("End to end (req/s; latency ms at fixed concurrency)",
		func(b *bench) bool { return strings.HasPrefix(b.name, "tickets-service.Service/") },
		func(b *bench) string {
			var parts []string
			for _, side := range []string{"service", "floor"} {
				rate, _ := b.get(side + "-req/s")
				p50, _ := b.get(side + "-p50-ms")
				p99, _ := b.get(side + "-p99-ms")
				s := fmt.Sprintf("%s %6.0f/s p50 %6.2f p99 %7.2f", side, rate, p50, p99)
				if sus, ok := b.get(side + "-sustained/s"); ok {
					drain, _ := b.get(side + "-drain-ms")
					s += fmt.Sprintf(" sustained %6.0f/s drain %6.0fms", sus, drain)
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, " | ")
		})
	perSecond := func(b *bench) string {
		var parts []string
		for _, side := range []string{"raw", "lib", "typed", "streaming"} {
			if ns, ok := b.get(side + "-ns/op"); ok && ns > 0 {
				parts = append(parts, fmt.Sprintf("%s %9.0f/s (%s)", side, 1e9/ns, dur(ns)))
			}
		}
		return strings.Join(parts, "  ")
	}
	section("Scaling: concurrency (messages/s)",
		func(b *bench) bool { return strings.Contains(b.name, "Concurrent/") }, perSecond)
	section("Scaling: collection size (operations/s, time per operation)",
		func(b *bench) bool { return strings.HasPrefix(b.name, "mongostore.Scale/") }, perSecond)
	for _, e := range extra {
		fmt.Fprintln(w, e)
	}
	section("Encode/Decode (ns/op, allocs/op of the library)",
		func(b *bench) bool { return strings.HasPrefix(b.name, "events.") },
		func(b *bench) string {
			ns, _ := b.get("ns/op")
			allocs, _ := b.get("allocs/op")
			bytes, _ := b.get("B/op")
			return fmt.Sprintf("%8.0f ns/op %4.0f allocs/op %5.0f B/op", ns, allocs, bytes)
		})
	return any
}

func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.1fms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1fµs", ns/1e3)
	}
	return fmt.Sprintf("%.0fns", ns)
}
