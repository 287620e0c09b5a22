package suitekit

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables the suites read; each has a flag of the same
// meaning, given after `--` (go tool ginkgo ./suites/... -- --target=env.yaml).
// A flag beats its variable.
const (
	EnvTarget         = "AFTERSHOCK_TARGET"          // --target
	EnvDemoLeaks      = "AFTERSHOCK_DEMO_LEAKS"      // --demo-leaks
	EnvDemoFixes      = "AFTERSHOCK_DEMO_FIXES"      // --demo-fixes
	EnvGRPCDemoLeaks  = "AFTERSHOCK_GRPC_DEMO_LEAKS" // --grpc-demo-leaks
	EnvGRPCDemoFixes  = "AFTERSHOCK_GRPC_DEMO_FIXES" // --grpc-demo-fixes
	EnvDrills         = "AFTERSHOCK_DRILLS"          // --drills
	EnvArtifacts      = "AFTERSHOCK_ARTIFACTS"       // --artifacts
	EnvSettle         = "AFTERSHOCK_SETTLE"          // --settle
	EnvShopBinary     = "AFTERSHOCK_SHOP_BIN"        // --shop-bin
	EnvGRPCShopBinary = "AFTERSHOCK_GRPCSHOP_BIN"    // --grpcshop-bin
	EnvSlowRead       = "AFTERSHOCK_SLOW_READ_PATH"  // --slow-read-path
)

// flags are registered by every suite binary that imports this package, so
// that `-- --target=...` reaches whichever suites run.
var flags = struct {
	target, demoLeaks, demoFixes, grpcDemoLeaks, grpcDemoFixes, drills, artifacts, settle, shopBin, grpcShopBin, slowRead *string
}{
	target:        flag.String("target", "", "env file describing a running service to drill instead of the demo (env "+EnvTarget+")"),
	demoLeaks:     flag.String("demo-leaks", "", "comma list of demo shop leaks to switch on (env "+EnvDemoLeaks+")"),
	demoFixes:     flag.String("demo-fixes", "", "comma list of demo shop fixes, overriding the default (env "+EnvDemoFixes+")"),
	grpcDemoLeaks: flag.String("grpc-demo-leaks", "", "comma list of gRPC demo shop leaks to switch on (env "+EnvGRPCDemoLeaks+")"),
	grpcDemoFixes: flag.String("grpc-demo-fixes", "", "comma list of gRPC demo shop fixes, overriding the default (env "+EnvGRPCDemoFixes+")"),
	drills:        flag.String("drills", "", "directory of Drill files for suites/drills (env "+EnvDrills+"; default: the shipped demo drills)"),
	artifacts:     flag.String("artifacts", "", "directory for snapshot bundles and journals (env "+EnvArtifacts+")"),
	settle:        flag.String("settle", "", "settle deadline of the suites' own specs, e.g. 15s (env "+EnvSettle+")"),
	shopBin:       flag.String("shop-bin", "", "prebuilt demo shop binary, to skip building it (env "+EnvShopBinary+")"),
	grpcShopBin:   flag.String("grpcshop-bin", "", "prebuilt gRPC demo shop binary, to skip building it (env "+EnvGRPCShopBinary+")"),
	slowRead:      flag.String("slow-read-path", "", "path of a large response for slow readers (env "+EnvSlowRead+"; default: the demo's /stream, else the first load request)"),
}

// setting returns the flag's value if given, else the variable's.
func setting(f *string, env string) string {
	return strings.TrimSpace(cmp.Or(*f, os.Getenv(env)))
}

// TargetFile is the env file the suites drill, "" for the demo.
func TargetFile() string { return setting(flags.target, EnvTarget) }

// External tells whether the suites drill a running service named by an
// env file rather than the demo. Specs that must not share that service
// run Serial then (see Decorators). It may be called while the tree is
// built: flags are parsed by then.
func External() bool { return TargetFile() != "" }

// DrillsDir is the directory of Drill files for suites/drills, "" for the
// shipped demo drills.
func DrillsDir() (string, error) {
	d := setting(flags.drills, EnvDrills)
	if d == "" {
		return "", nil
	}
	return ResolvePath(d)
}

// ResolvePath finds a path the user gave relative to where they ran the
// command. Ginkgo and go test run each suite in its own package directory,
// so a relative path is tried against the working directory, $PWD and the
// module root (the nearest directory holding go.mod), first match wins.
func ResolvePath(p string) (string, error) {
	if filepath.IsAbs(p) {
		return p, nil
	}
	var tried []string
	bases := []string{"."}
	if pwd := os.Getenv("PWD"); pwd != "" {
		bases = append(bases, pwd)
	}
	if root, err := moduleRoot(); err == nil {
		bases = append(bases, root)
	}
	for _, b := range bases {
		cand := filepath.Join(b, p)
		if _, err := os.Stat(cand); err == nil {
			return filepath.Abs(cand)
		}
		abs, _ := filepath.Abs(cand)
		tried = append(tried, abs)
	}
	return "", fmt.Errorf("%s not found; tried %s", p, strings.Join(tried, ", "))
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ArtifactsDir is where snapshot bundles and journals go. A relative
// directory is taken from the module root, where the suites are usually
// run from (each suite itself runs in its package directory).
func ArtifactsDir() string {
	d := setting(flags.artifacts, EnvArtifacts)
	switch {
	case d == "":
		return filepath.Join(os.TempDir(), "aftershock-suites")
	case filepath.IsAbs(d):
		return d
	}
	if root, err := moduleRoot(); err == nil {
		return filepath.Join(root, d)
	}
	abs, _ := filepath.Abs(d)
	return abs
}

// splitList splits a comma list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
