package httpapi

import (
	"runtime"
	"testing"

	"github.com/regapi/regapi/internal/registration/registrationtest"
)

// BenchmarkLimiterFlood measures a limiter under a flood of new clients: the time per request
// once its table is full (every request then evicts a key), and the memory the full table of
// defaultMaxKeys holds, per key.
func BenchmarkLimiterFlood(b *testing.B) {
	clock := registrationtest.NewClock()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newKeyedLimiter(10, accountFailureWindow, clock.Now)
	for i := range defaultMaxKeys {
		_ = l.allow("someone@example.com", v4(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / float64(l.size())
	b.ResetTimer()
	for i := range b.N {
		_ = l.allow("someone@example.com", v4(defaultMaxKeys+i))
	}
	b.ReportMetric(perKey, "heap-bytes/key")
}
