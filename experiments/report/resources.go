package report

import (
	"cmp"
	"image/color"
	"maps"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// ResourceChart draws the target's resource timeline as SVG: goroutines,
// connections by class and heap against the seconds since the drill
// started, each with the baseline and its tolerance as a band, each
// fault's window shaded, and the moment each fault settled (or its settle
// deadline) marked. It returns nil when the result has no timeline.
func ResourceChart(r *runner.Result) ([]byte, error) {
	if len(r.Resources) == 0 {
		return nil, nil
	}
	ps, err := resourcePlots(r)
	if err != nil {
		return nil, err
	}
	return render(resourceHeight, ps...)
}

// resourceHeight: three plots stacked.
const resourceHeight = 18 * vg.Centimeter

// maxClasses is how many connection classes get a line of their own, the
// largest first; the total has one anyway.
const maxClasses = 4

var (
	bandColor    = color.RGBA{R: 200, G: 235, B: 200, A: 255}
	faultColor   = color.RGBA{R: 255, G: 210, B: 200, A: 255}
	backColor    = color.RGBA{G: 140, A: 255}
	missedColor  = color.RGBA{R: 200, A: 255}
	restartColor = color.RGBA{R: 230, G: 120, A: 255}
	palette      = []color.Color{
		color.RGBA{B: 200, A: 255}, color.RGBA{R: 200, G: 120, A: 255}, color.RGBA{R: 120, B: 160, A: 255},
		color.RGBA{G: 150, B: 150, A: 255}, color.RGBA{R: 120, G: 120, B: 120, A: 255},
	}
)

func resourcePlots(r *runner.Result) ([]*plot.Plot, error) {
	since := func(t time.Time) float64 { return t.Sub(r.Start).Seconds() }
	end := since(r.Start.Add(r.Wall))
	for _, s := range r.Resources {
		end = max(end, since(s.At))
	}
	tol, judged := tolerances(r)
	gBand, cBand := tol.Band()

	gor := plot.New()
	gor.Title.Text = "target: goroutines"
	conns := plot.New()
	conns.Title.Text = "target: connections"
	heap := plot.New()
	heap.Title.Text = "target: heap in use"
	heap.Y.Label.Text = "MiB"
	heap.X.Label.Text = "seconds since the drill started"

	var g, total, hUp, hGC plotter.XYs
	byClass := map[snapshot.ConnClass]plotter.XYs{}
	peak := map[snapshot.ConnClass]int{}
	// A target of several replicas: a line per replica in each panel.
	var names []string
	perG, perConn, perHeap := map[string]plotter.XYs{}, map[string]plotter.XYs{}, map[string]plotter.XYs{}
	for _, s := range r.Resources {
		x := since(s.At)
		if _, ok := perG[s.Replica]; !ok {
			names = append(names, s.Replica)
		}
		perG[s.Replica] = append(perG[s.Replica], plotter.XY{X: x, Y: float64(s.Goroutines)})
		g = append(g, plotter.XY{X: x, Y: float64(s.Goroutines)})
		n := 0
		for c, k := range s.Connections {
			n += k
			peak[c] = max(peak[c], k)
		}
		total = append(total, plotter.XY{X: x, Y: float64(n)})
		perConn[s.Replica] = append(perConn[s.Replica], plotter.XY{X: x, Y: float64(n)})
		switch {
		case s.Heap == 0:
		case s.Collected:
			hGC = append(hGC, plotter.XY{X: x, Y: mib(s.Heap)})
		default:
			hUp = append(hUp, plotter.XY{X: x, Y: mib(s.Heap)})
			perHeap[s.Replica] = append(perHeap[s.Replica], plotter.XY{X: x, Y: mib(s.Heap)})
		}
	}
	replicas := len(names) > 1
	classes := slices.SortedFunc(maps.Keys(peak), func(a, b snapshot.ConnClass) int {
		return cmp.Or(cmp.Compare(peak[b], peak[a]), cmp.Compare(a, b))
	})
	if len(classes) > maxClasses {
		classes = classes[:maxClasses]
	}
	for _, s := range r.Resources {
		for _, c := range classes {
			byClass[c] = append(byClass[c], plotter.XY{X: since(s.At), Y: float64(s.Connections[c])})
		}
	}

	type panel struct {
		p   *plot.Plot
		top float64
	}
	panels := []*panel{{p: gor, top: top(g)}, {p: conns, top: top(total)}, {p: heap, top: max(top(hUp), top(hGC))}}
	// The bands: one per stretch of the drill judged against one baseline
	// (a fault that did not return is the next one's baseline).
	type band struct {
		x0, x1 float64
		lo, hi [3]float64 // per panel
	}
	var bands []band
	if judged {
		x0 := 0.0
		for i, f := range r.Faults {
			b := cmp.Or(f.Base, r.Baseline)
			if b == nil {
				continue
			}
			x1 := end
			if at, ok := settleEnd(r, f); ok && i < len(r.Faults)-1 {
				x1 = since(at)
			}
			baseConns := 0
			for _, n := range b.Connections {
				baseConns += n
			}
			bands = append(bands, band{x0: x0, x1: x1,
				lo: [3]float64{float64(b.Goroutines), float64(baseConns), mib(b.Heap)},
				hi: [3]float64{float64(b.Goroutines + gBand), float64(baseConns + cBand), mib(b.Heap) + mib(uint64(max(0, tol.HeapAllowance(b.Heap))))},
			})
			x0 = x1
		}
	}
	for i, pn := range panels {
		for _, bd := range bands {
			pn.top = max(pn.top, bd.hi[i])
		}
		// Room above the data for the legend.
		pn.top *= 1.35
		if pn.top == 0 {
			pn.top = 1
		}
		for _, w := range holds(r) {
			if err := shade(pn.p, since(w[0]), since(w[1]), 0, pn.top, faultColor); err != nil {
				return nil, err
			}
		}
		for j, bd := range bands {
			// A band of a few goroutines on a scale of hundreds is a
			// hairline: give it a visible thickness, and draw the
			// baseline itself.
			if err := shade(pn.p, bd.x0, bd.x1, bd.lo[i], max(bd.hi[i], bd.lo[i]+pn.top/60), bandColor); err != nil {
				return nil, err
			}
			l, err := plotter.NewLine(plotter.XYs{{X: bd.x0, Y: bd.lo[i]}, {X: bd.x1, Y: bd.lo[i]}})
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = backColor, vg.Points(0.8)
			pn.p.Add(l)
			if j == 0 {
				pn.p.Legend.Add("baseline and tolerance", l)
			}
		}
		pn.p.Y.Min, pn.p.Y.Max, pn.p.X.Min, pn.p.X.Max = 0, pn.top, 0, end
		pn.p.Add(plotter.NewGrid())
	}
	if replicas {
		for i, name := range names {
			c := palette[i%len(palette)]
			for _, l := range []struct {
				p   *plot.Plot
				xys plotter.XYs
			}{{gor, perG[name]}, {conns, perConn[name]}, {heap, perHeap[name]}} {
				if err := addLine(l.p, name, l.xys, c); err != nil {
					return nil, err
				}
			}
		}
	} else {
		if err := addLine(gor, "goroutines", g, palette[0]); err != nil {
			return nil, err
		}
		if err := addLine(conns, "all", total, color.Black); err != nil {
			return nil, err
		}
		for i, c := range classes {
			if err := addLine(conns, string(c), byClass[c], palette[i%len(palette)]); err != nil {
				return nil, err
			}
		}
		if err := addLine(heap, "no GC forced", hUp, palette[0]); err != nil {
			return nil, err
		}
	}
	if len(hGC) > 0 {
		sc, err := plotter.NewScatter(hGC)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Shape, sc.GlyphStyle.Color, sc.GlyphStyle.Radius = draw.CircleGlyph{}, color.Black, vg.Points(2.5)
		heap.Add(sc)
		heap.Legend.Add("after a forced GC", sc)
	}
	for _, m := range settleMarks(r) {
		for _, pn := range panels {
			c := backColor
			if !m.back {
				c = missedColor
			}
			l, err := plotter.NewLine(plotter.XYs{{X: since(m.at), Y: 0}, {X: since(m.at), Y: pn.top}})
			if err != nil {
				return nil, err
			}
			l.Color, l.Width, l.Dashes = c, vg.Points(1.2), []vg.Length{vg.Points(4), vg.Points(2)}
			pn.p.Add(l)
		}
	}
	// A restart caught: a solid mark where the capture that caught it
	// was taken.
	for i, x := range r.Restarts {
		for j, pn := range panels {
			l, err := plotter.NewLine(plotter.XYs{{X: since(x.At), Y: 0}, {X: since(x.At), Y: pn.top}})
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = restartColor, vg.Points(2)
			pn.p.Add(l)
			if i == 0 && j == 0 {
				pn.p.Legend.Add("restart caught", l)
			}
		}
	}
	for _, pn := range panels {
		pn.p.Legend.Top, pn.p.Legend.Left = true, true
		pn.p.Legend.TextStyle.Font.Size = vg.Points(8)
		pn.p.Legend.ThumbnailWidth = vg.Points(14)
	}
	return []*plot.Plot{gor, conns, heap}, nil
}

// tolerances are the limits the drill's verdicts used (the first judged
// fault's: every fault of a drill shares its verify block).
func tolerances(r *runner.Result) (matchers.Tolerances, bool) {
	for _, f := range r.Faults {
		if f.Findings != nil {
			return f.Findings.Tolerances, true
		}
	}
	return matchers.Tolerances{}, false
}

type settleMark struct {
	at   time.Time
	back bool
}

// settleMarks are, per fault, the moment the service was back within
// tolerance, or was judged still out.
func settleMarks(r *runner.Result) []settleMark {
	var out []settleMark
	for _, f := range r.Faults {
		if at, ok := settleEnd(r, f); ok {
			out = append(out, settleMark{at: at, back: f.Returned})
		}
	}
	return out
}

// settleEnd is when fault f's settle ended: back, or judged still out.
func settleEnd(r *runner.Result, f runner.FaultResult) (time.Time, bool) {
	for _, p := range r.Phases {
		if p.Phase == "settle" && p.Fault == f.Name && f.Settle > 0 {
			return p.Start.Add(f.Settle), true
		}
	}
	return time.Time{}, false
}

func shade(p *plot.Plot, x0, x1, y0, y1 float64, c color.Color) error {
	poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if err != nil {
		return err
	}
	poly.Color = c
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func top(xys plotter.XYs) float64 {
	t := 0.0
	for _, xy := range xys {
		t = max(t, xy.Y)
	}
	return t
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
