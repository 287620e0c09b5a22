// Package report renders drill results as one self-contained HTML file (no
// script, no external asset): per drill the verdict, the wall time of each
// phase, each fault's culprits, leak text and SLO checks, and the steady
// load's timeline — p50 and p99 latency and failed requests — drawn with
// gonum/plot as inline SVG, each fault's hold shaded, so a reader sees at
// a glance whether the service failed fast during the fault and recovered
// after it. Culprits and "what grew" are the findings of the verdict
// (matchers.Findings), rendered as every other front end renders them.
package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/xml"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/matchers"
)

//go:embed report.html.tmpl
var page string

// funcs are the templates' functions, shared by the report and the
// history page.
var funcs = template.FuncMap{
	"round": func(d time.Duration) time.Duration { return d.Round(time.Millisecond) },
	// findings renders a fault's findings as the failure message does.
	"findings": func(f runner.FaultResult) string {
		if f.Findings == nil {
			return f.Error
		}
		return f.Findings.Message()
	},
	"upper": func(v runner.Verdict) string {
		if v == runner.Pass {
			return "PASS"
		}
		return "FAIL"
	},
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	// count says "1 run", "2 runs".
	"count": func(n int, noun string) string {
		if n == 1 {
			return "1 " + noun
		}
		return strconv.Itoa(n) + " " + noun + "s"
	},
}

var tmpl = template.Must(template.New("report").Funcs(funcs).Parse(page))

// drillView is one drill as the template shows it.
type drillView struct {
	*runner.Result
	Chart     template.HTML // inline SVG, empty without load
	Resources template.HTML // inline SVG, empty without a resource timeline
	Band      string        // what the resource chart's band is
}

// Write renders results as HTML to w; generated is shown in the header.
func Write(w io.Writer, results []*runner.Result, generated time.Time) error {
	views := make([]drillView, 0, len(results))
	for _, r := range results {
		if r == nil {
			continue
		}
		v := drillView{Result: r}
		if r.Load != nil && len(r.Load.Timeline) > 0 {
			svg, err := chart(r)
			if err != nil {
				return fmt.Errorf("report: chart of drill %s: %w", r.Drill, err)
			}
			v.Chart = template.HTML(svg) // produced by vgsvg from numbers, not from input text
		}
		svg, err := ResourceChart(r)
		if err != nil {
			return fmt.Errorf("report: resource chart of drill %s: %w", r.Drill, err)
		}
		// From numbers and the connection class names, which vgsvg escapes.
		v.Resources = template.HTML(stripProlog(svg))
		v.Band = bandText(r)
		views = append(views, v)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct {
		Generated time.Time
		Drills    []drillView
	}{generated, views}); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// bandText says what the resource chart's bands are, in the drill's terms.
func bandText(r *runner.Result) string {
	t, ok := tolerances(r)
	if !ok || r.Baseline == nil {
		return "No fault was judged: no band."
	}
	g, c := t.Band()
	return fmt.Sprintf("Green bands: the baseline and its tolerance — goroutines up to +%d (a group's maxExtra %d plus two goroutines for each of the %d idle pooled connections allowed), connections up to +%d, heap up to +%s. The verdict is per goroutine group and connection class; the total's band pictures it.",
		g, t.Goroutines, t.IdleConnections, c, matchers.BytesText(t.HeapAllowance(r.Baseline.Heap)))
}

// Charts is the runner option that writes the charts (WriteCharts) beside
// each drill's journal.
func Charts() runner.Option { return runner.WithArtifactHook(WriteCharts) }

// WriteCharts writes the drill's charts as SVG files into dir: load.svg
// (when the drill had a load) and resources.svg (when it has a resource
// timeline).
func WriteCharts(dir string, r *runner.Result) error {
	files := map[string]func(*runner.Result) ([]byte, error){"resources.svg": ResourceChart}
	if r.Load != nil && len(r.Load.Timeline) > 0 {
		files["load.svg"] = func(r *runner.Result) ([]byte, error) {
			svg, err := chart(r)
			if err != nil {
				return nil, err
			}
			return append([]byte(xml.Header), svg...), nil
		}
	}
	for name, f := range files {
		svg, err := f(r)
		if err != nil {
			return fmt.Errorf("chart %s of drill %s: %w", name, r.Drill, err)
		}
		if svg == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), svg, 0o644); err != nil {
			return fmt.Errorf("chart of drill %s: %w", r.Drill, err)
		}
	}
	return nil
}

// chart draws the load's timeline: latency percentiles on top, failed
// requests below, seconds since the drill started on x, the faults' hold
// windows shaded.
func chart(r *runner.Result) ([]byte, error) {
	lat, failed, err := plots(r)
	if err != nil {
		return nil, err
	}
	svg, err := render(chartHeight, lat, failed)
	if err != nil {
		return nil, err
	}
	return stripProlog(svg), nil
}

// render draws plots stacked, their axes aligned, as an SVG document of
// the page's width and the given height.
func render(height vg.Length, plots ...*plot.Plot) ([]byte, error) {
	c := vgsvg.New(chartWidth, height)
	stack(draw.New(c), plots...)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// plots builds the two plots of the chart.
func plots(r *runner.Result) (lat, failed *plot.Plot, err error) {
	since := func(t time.Time) float64 { return t.Sub(r.Start).Seconds() }
	var p50, p99, errs plotter.XYs
	maxMs := 1.0
	for _, b := range r.Load.Timeline {
		x := since(b.Start)
		p50 = append(p50, plotter.XY{X: x, Y: ms(b.P50)})
		p99 = append(p99, plotter.XY{X: x, Y: ms(b.P99)})
		errs = append(errs, plotter.XY{X: x, Y: float64(b.Errors)})
		maxMs = max(maxMs, ms(b.P99))
	}
	lat = plot.New()
	lat.Title.Text = "steady load: latency"
	lat.Y.Label.Text = "ms"
	failed = plot.New()
	failed.Title.Text = "failed requests per slice"
	failed.X.Label.Text = "seconds since the drill started"
	maxErr := 1.0
	for _, e := range errs {
		maxErr = max(maxErr, e.Y)
	}
	for _, w := range holds(r) {
		for _, p := range []struct {
			p   *plot.Plot
			top float64
		}{{lat, maxMs}, {failed, maxErr}} {
			poly, err := plotter.NewPolygon(plotter.XYs{{X: since(w[0]), Y: 0}, {X: since(w[1]), Y: 0}, {X: since(w[1]), Y: p.top}, {X: since(w[0]), Y: p.top}})
			if err != nil {
				return nil, nil, err
			}
			poly.Color = color.RGBA{R: 255, G: 210, B: 200, A: 255}
			poly.LineStyle.Width = 0
			p.p.Add(poly)
		}
	}
	for _, s := range []struct {
		name string
		xys  plotter.XYs
		c    color.Color
	}{{"p50", p50, color.RGBA{B: 200, A: 255}}, {"p99", p99, color.RGBA{R: 200, A: 255}}} {
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return nil, nil, err
		}
		l.Color = s.c
		lat.Add(l)
		lat.Legend.Add(s.name, l)
	}
	lat.Legend.Top = true
	bars, err := plotter.NewScatter(errs)
	if err != nil {
		return nil, nil, err
	}
	bars.GlyphStyle.Shape = draw.BoxGlyph{}
	bars.GlyphStyle.Radius = vg.Points(2)
	failed.Add(bars)
	lat.Add(plotter.NewGrid())
	failed.Y.Min, lat.Y.Min = 0, 0
	return lat, failed, nil
}

// The chart's size: two plots stacked, the width of a page's text.
const chartWidth, chartHeight = 18 * vg.Centimeter, 12 * vg.Centimeter

// stack draws the plots one above the other on dc, their axes aligned.
func stack(dc draw.Canvas, plots ...*plot.Plot) {
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(rows, draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Millimeter * 4}, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
}

// holds returns each fault's window, from the moment it was in effect to
// the moment its clear began: the window its SLOs were judged over.
func holds(r *runner.Result) [][2]time.Time {
	var out [][2]time.Time
	for _, f := range r.Faults {
		if f.InEffect.IsZero() {
			continue
		}
		end := f.Cleared
		if end.IsZero() {
			end = r.Start.Add(r.Wall) // the drill stopped during the hold
		}
		out = append(out, [2]time.Time{f.InEffect, end})
		for _, w := range f.With {
			if !w.InEffect.IsZero() {
				out = append(out, [2]time.Time{w.InEffect, cmp.Or(w.Cleared, end)})
			}
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stripProlog drops the XML declaration and doctype, which HTML does not
// want inline.
func stripProlog(svg []byte) []byte {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		return svg[i:]
	}
	return svg
}
