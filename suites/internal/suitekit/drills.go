package suitekit

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
)

// DrillFile is one Drill file of the drills directory, known before the
// target exists: the suites make a spec of each while the tree is built,
// and load it (with the target's addresses) when the spec runs.
type DrillFile struct {
	// Name is the file name; Path is where problems say it is.
	Name, Path string
	// Labels are the fault families its faults belong to, each as its
	// fault names it (experiments.Fault.Family).
	Labels []string

	fsys fs.FS // nil: read Path from disk
}

// DrillFiles lists the Drill files the drills suite runs: those of
// --drills / AFTERSHOCK_DRILLS, or the shipped demo drills
// (experiments/drills, embedded in the experiments package), the gRPC
// demo's (experiments/drills/grpc) when the env file's target is gRPC.
func DrillFiles() ([]DrillFile, error) {
	dir, err := DrillsDir()
	if err != nil {
		return nil, fmt.Errorf("drills directory (%s / --drills): %w", EnvDrills, err)
	}
	fsys, prefix := experiments.DemoFS, "experiments/drills"
	if dir == "" && targetIsGRPC() {
		fsys, prefix = experiments.GRPCFS, "experiments/drills/grpc"
	}
	var disk bool
	if dir != "" {
		fsys, prefix, disk = os.DirFS(dir), dir, true
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list drills in %s: %w", prefix, err)
	}
	var files []DrillFile
	for _, e := range entries {
		if e.IsDir() || !slices.Contains([]string{".yaml", ".yml"}, path.Ext(e.Name())) {
			continue
		}
		f := DrillFile{Name: e.Name(), Path: filepath.Join(prefix, e.Name())}
		if !disk {
			f.fsys = fsys
		}
		data, err := f.read()
		if err != nil {
			return nil, err
		}
		f.Labels = faultFamilies(data)
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no drill files (*.yaml, *.yml) in %s", prefix)
	}
	return files, nil
}

// targetIsGRPC tells whether the env file names a gRPC service. It is
// asked while the tree is built; an env file that does not load says
// no, and its problems fail the suite when the target starts.
func targetIsGRPC() bool {
	file := TargetFile()
	if file == "" {
		return false
	}
	path, err := ResolvePath(file)
	if err != nil {
		return false
	}
	env, err := LoadEnv(path)
	return err == nil && env.Target.IsGRPC()
}

func (f DrillFile) read() ([]byte, error) {
	var data []byte
	var err error
	if f.fsys != nil {
		data, err = fs.ReadFile(f.fsys, f.Name)
	} else {
		data, err = os.ReadFile(f.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("read drill %s: %w", f.Path, err)
	}
	return data, nil
}

// faultFamilies names the fault families a drill holds, for labels: the
// family each of its faults names itself (experiments.Fault.Family), as
// the loader decodes them before any ${VAR} has a value
// (experiments.DecodeFaults). The suites know no fault block nor family
// of their own. What does not decode gets no label; the drill's spec
// reports its problems when it runs.
func faultFamilies(data []byte) []string {
	faults, _ := experiments.DecodeFaults("", data)
	var labels []string
	for i := range faults {
		if l := string(faults[i].Family()); l != "" && !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	return labels
}

// Load loads the drill with the target's ${VAR} values and points it at
// the target: its target and upstream addresses become the target's, so
// that a team's drills run against whichever environment the suites are
// given, and so does its quiesce window unless the drill sets one. Every
// upstream a fault names must exist on the target, of a protocol its
// fault can act on (Fault.Misfit).
func (f DrillFile) Load(t *Target) (*experiments.Drill, error) {
	data, err := f.read()
	if err != nil {
		return nil, err
	}
	d, err := experiments.Parse(f.Path, data, experiments.WithVars(t.Vars))
	if err != nil {
		return nil, err
	}
	d.Spec.Target = experiments.Target{URL: t.URL, Pprof: t.Pprof, Headers: t.Headers}
	d.Spec.Upstreams = slices.Clone(t.Upstreams)
	d.Spec.AllowHosts = append(d.Spec.AllowHosts, t.AllowHosts...)
	// How long the target must hold still before a baseline is a property
	// of the target (its idle timers), unless the drill says otherwise.
	if d.Where("spec.verify.quiesce") == d.Where("spec.verify") && t.Quiesce > 0 {
		d.Spec.Verify.Quiesce = experiments.D(t.Quiesce)
	}
	var problems []string
	for i, fault := range d.Spec.Faults {
		if fault.Upstream == "" {
			continue
		}
		where := d.Where(fmt.Sprintf("spec.faults[%d].upstream", i))
		u := d.Upstream(fault.Upstream)
		switch {
		case u == nil:
			problems = append(problems, fmt.Sprintf("%s: fault %s acts on upstream %q, which %s does not declare (it declares %s)",
				where, fault.Name, fault.Upstream, t.Name, upstreamNames(t.Upstreams)))
		case fault.Misfit(u) != "":
			problems = append(problems, fmt.Sprintf("%s: fault %s cannot act on %s's upstream: %s",
				where, fault.Name, t.Name, fault.Misfit(u)))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("drill %s cannot run against %s:\n%s", f.Path, t.Name, strings.Join(problems, "\n"))
	}
	return d, nil
}

func upstreamNames(us []experiments.Upstream) string {
	if len(us) == 0 {
		return "none"
	}
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = u.Name
	}
	return strings.Join(names, ", ")
}

// Verdict explains a drill's result the way a failure message should, as
// the CLI prints it (runner.WriteText).
func Verdict(res *runner.Result) string {
	var b strings.Builder
	runner.WriteText(&b, res)
	if res.Artifacts != "" {
		fmt.Fprintf(&b, "journal: %s\n", filepath.Join(res.Artifacts, "journal.json"))
	}
	return b.String()
}
