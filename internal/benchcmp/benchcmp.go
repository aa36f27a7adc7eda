// Package benchcmp measures ticketkit against the raw clients it wraps in
// the same benchmark, so that the figure that counts is a ratio and not an
// absolute number: the machines that run benchmarks are shared and noisy,
// and a ratio of two measurements taken a moment apart cancels most of that.
//
// Compare runs a baseline (the raw client) and one or more sides (the
// library) in alternating rounds over the same b.N operations each, and
// reports, besides the standard ns/op of the first side, each side's
// median per-round ratio to the baseline as "<side>-ratio" (throughput of
// the side over throughput of the baseline: 1 means no cost, 0.9 means 10%
// slower) and each side's ns/op as "<side>-ns/op". The benchreport command
// (internal/benchcmp/benchreport) reads `go test -bench` output and prints
// those ratios against the targets.
package benchcmp

import (
	"slices"
	"testing"
	"time"
)

// Side is one way of doing the measured operation: Run does n operations,
// and fails b (b.Fatal) if one fails. Prepare, if set, runs before each
// Run with the same n, untimed: to publish the messages a consumer will
// consume, say.
type Side struct {
	Name    string
	Prepare func(b *testing.B, n int)
	Run     func(b *testing.B, n int)
}

// Options tunes Compare.
type Options struct {
	// Rounds is the most rounds b.N is split into; 0 means 8. Each side does
	// its share of every round, in an order that changes from round to
	// round, so that a drift of the machine's speed hits every side alike.
	Rounds int
	// MinPerRound is the fewest operations a round gives each side, so that
	// a round is long enough to mean something; 0 means 1.
	MinPerRound int
	// Warmup operations each side does before the first round, untimed.
	Warmup int
}

// Compare runs baseline and sides over b.N operations each, in rounds, and
// reports the ratios. The benchmark's own timer counts sides[0] only, so
// its ns/op is the library's.
func Compare(b *testing.B, opts Options, baseline Side, sides ...Side) {
	b.Helper()
	if len(sides) == 0 {
		b.Fatal("benchcmp: no side to compare with the baseline")
	}
	rounds := opts.Rounds
	if rounds <= 0 {
		rounds = 8
	}
	minPer := max(opts.MinPerRound, 1)
	rounds = max(1, min(rounds, b.N/minPer))
	all := append([]Side{baseline}, sides...)

	b.ResetTimer() // the caller's setup is not the library's cost
	b.StopTimer()
	if opts.Warmup > 0 {
		for _, s := range all {
			if s.Prepare != nil {
				s.Prepare(b, opts.Warmup)
			}
			s.Run(b, opts.Warmup)
		}
	}
	elapsed := make([][]time.Duration, len(all)) // [side][round]
	ops := make([]int, rounds)
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		ops[r] = n
		for _, i := range order(len(all), r) {
			s := all[i]
			if s.Prepare != nil {
				s.Prepare(b, n)
			}
			if i == 1 {
				b.StartTimer()
			}
			start := time.Now()
			s.Run(b, n)
			elapsed[i] = append(elapsed[i], time.Since(start))
			if i == 1 {
				b.StopTimer()
			}
		}
	}
	b.StartTimer() // the testing package expects it running at the end

	for i, s := range all {
		var total time.Duration
		for _, d := range elapsed[i] {
			total += d
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), s.Name+"-ns/op")
		if i == 0 {
			continue
		}
		ratios := make([]float64, rounds)
		for r := range rounds {
			// Time per op of the baseline over the side's: the side's
			// throughput as a fraction of the baseline's.
			ratios[r] = float64(elapsed[0][r]) / float64(elapsed[i][r])
		}
		b.ReportMetric(Median(ratios), s.Name+"-ratio")
	}
}

// order is the order in which the sides run in round r: rotated every
// other round and reversed in between (for two sides ABBA, for three all
// six permutations in six rounds), so that no side always follows the
// same other side, whose leftovers (garbage to collect, a server still
// flushing) it would pay for.
func order(n, r int) []int {
	o := make([]int, n)
	for k := range o {
		o[k] = (k + r/2) % n
	}
	if r%2 == 1 {
		slices.Reverse(o)
	}
	return o
}

// Median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none. It does not modify xs.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the p-th percentile (0..100) of sorted durations by
// the nearest-rank method, or 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}
