package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// vcsRevision is the commit the binary was built from, for builds that embed no VCS
// information (a Docker build has no .git): -ldflags "-X main.vcsRevision=<sha>".
var vcsRevision string

// buildInfo is what `regapi version` prints and regapi_build_info exports.
type buildInfo struct {
	Version   string // module version, "(devel)" for a build from a work tree
	Revision  string // VCS commit, "unknown" when neither embedded nor passed in
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
}

// readBuildInfo returns the version information embedded in the binary.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Revision: vcsRevision, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Revision == "":
				b.Revision = s.Value
			case s.Key == "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// printVersion writes one line: version, commit and Go version.
func printVersion(w io.Writer) {
	b := readBuildInfo()
	rev := b.Revision
	if b.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(w, "regapi %s commit %s %s\n", b.Version, rev, b.GoVersion)
}

// newBuildInfoCollector returns the regapi_build_info gauge: always 1, its labels say which
// build runs, so that a dashboard can tell versions apart during a rollout.
func newBuildInfoCollector() prometheus.Collector {
	b := readBuildInfo()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regapi_build_info",
		Help: "Always 1; the labels name the version, commit and Go version of this build.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	return g
}
