package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/aftershock/aftershock/experiments/runner"
)

//go:embed history.html.tmpl
var historyPage string

var historyTmpl = template.Must(template.New("history").Funcs(funcs).Parse(historyPage))

// ReadJournals finds the journal.json files under each dir (as
// --artifacts writes them, at any depth) and decodes them. A file that
// does not decode is an error naming it.
func ReadJournals(dirs ...string) ([]*runner.Result, error) {
	var out []*runner.Result
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || d.Name() != "journal.json" {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var r runner.Result
			if err := json.Unmarshal(data, &r); err != nil {
				return fmt.Errorf("%s: not a drill journal: %w", path, err)
			}
			if r.Drill == "" || r.Start.IsZero() {
				return fmt.Errorf("%s: not a drill journal (no drill name or start)", path)
			}
			out = append(out, &r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// historyView is one drill over its runs.
type historyView struct {
	Drill  string
	Runs   []*runner.Result // oldest first
	Passed int
	Flips  int           // verdict changes between consecutive runs
	Chart  template.HTML // settle time per fault over the runs
	Faults []string
}

// Flaky tells a drill whose verdict flips between runs.
func (h historyView) Flaky() bool { return h.Flips > 0 && h.Passed > 0 && h.Passed < len(h.Runs) }

// WriteHistory renders many runs of many drills as one self-contained
// page: per drill, the verdict over time, each fault's time back to
// baseline and its load's p99 during the fault as trends, and which
// drills flip between pass and fail (listed first).
func WriteHistory(w io.Writer, results []*runner.Result, generated time.Time) error {
	by := map[string][]*runner.Result{}
	for _, r := range results {
		if r != nil {
			by[r.Drill] = append(by[r.Drill], r)
		}
	}
	var views []historyView
	for drill, runs := range by {
		slices.SortFunc(runs, func(a, b *runner.Result) int { return a.Start.Compare(b.Start) })
		v := historyView{Drill: drill, Runs: runs}
		for i, r := range runs {
			if r.Verdict == runner.Pass {
				v.Passed++
			}
			if i > 0 && r.Verdict != runs[i-1].Verdict {
				v.Flips++
			}
			for _, f := range r.Faults {
				if !slices.Contains(v.Faults, f.Name) {
					v.Faults = append(v.Faults, f.Name)
				}
			}
		}
		svg, err := trendChart(v)
		if err != nil {
			return fmt.Errorf("history of drill %s: %w", drill, err)
		}
		v.Chart = template.HTML(stripProlog(svg)) // from numbers and fault names, which vgsvg escapes
		views = append(views, v)
	}
	// Flaky drills first, then failing ones, then by name.
	slices.SortFunc(views, func(a, b historyView) int {
		return cmp.Or(cmpBool(b.Flaky(), a.Flaky()), cmp.Compare(a.Passed*len(b.Runs), b.Passed*len(a.Runs)), cmp.Compare(a.Drill, b.Drill))
	})
	var buf bytes.Buffer
	if err := historyTmpl.Execute(&buf, struct {
		Generated time.Time
		Runs      int
		Drills    []historyView
	}{generated, len(results), views}); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// trendChart draws, per fault, the time back to baseline over the runs
// (a run that did not return is drawn, as a cross, when it was judged:
// its settle deadline, or the moment the Go runtime proved a leak)
// above the load's p99 while the fault was held.
func trendChart(v historyView) ([]byte, error) {
	if len(v.Faults) == 0 {
		return nil, nil // runs that never got to a fault: the table says why
	}
	settle := plot.New()
	settle.Title.Text = "time back to baseline (×: did not return; drawn when judged)"
	settle.Y.Label.Text = "s"
	p99 := plot.New()
	p99.Title.Text = "steady load p99 while the fault was held"
	p99.Y.Label.Text = "ms"
	// The x unit follows the span: nightly runs in days, a morning of
	// runs in hours, a burst in minutes.
	first := v.Runs[0].Start
	unit, name := 24*time.Hour, "days"
	switch span := v.Runs[len(v.Runs)-1].Start.Sub(first); {
	case span < 2*time.Hour:
		unit, name = time.Minute, "minutes"
	case span < 48*time.Hour:
		unit, name = time.Hour, "hours"
	}
	p99.X.Label.Text = "run start (" + name + " since the first run)"
	x := func(t time.Time) float64 { return float64(t.Sub(first)) / float64(unit) }
	for i, name := range v.Faults {
		var back, missed, lat plotter.XYs
		for _, r := range v.Runs {
			for _, f := range r.Faults {
				if f.Name != name {
					continue
				}
				pt := plotter.XY{X: x(r.Start), Y: f.Settle.Seconds()}
				if f.Returned {
					back = append(back, pt)
				} else {
					missed = append(missed, pt)
				}
				if f.DuringFault != nil {
					lat = append(lat, plotter.XY{X: x(r.Start), Y: ms(f.DuringFault.P99)})
				}
			}
		}
		c := palette[i%len(palette)]
		for _, s := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{settle, append(slices.Clone(back), missed...)}, {p99, lat}} {
			if len(s.xys) == 0 {
				continue
			}
			slices.SortFunc(s.xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
			// A marker on every run: a line through one point draws
			// nothing, and a drill's first run is one point.
			l, pts, err := plotter.NewLinePoints(s.xys)
			if err != nil {
				return nil, err
			}
			l.Color = c
			pts.GlyphStyle.Shape, pts.GlyphStyle.Color, pts.GlyphStyle.Radius = draw.CircleGlyph{}, c, vg.Points(2.5)
			s.p.Add(l, pts)
			s.p.Legend.Add(name, l, pts)
		}
		if len(missed) > 0 {
			sc, err := plotter.NewScatter(missed)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Shape, sc.GlyphStyle.Color, sc.GlyphStyle.Radius = draw.CrossGlyph{}, color.RGBA{R: 200, A: 255}, vg.Points(4)
			settle.Add(sc)
		}
	}
	for _, p := range []*plot.Plot{settle, p99} {
		// Headroom above the highest run, so that its marker is not drawn
		// on the frame (one run, or runs of one value, set the maximum).
		p.Y.Min, p.Y.Max = 0, p.Y.Max*1.15
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		p.Add(plotter.NewGrid())
	}
	return render(chartHeight, settle, p99)
}
