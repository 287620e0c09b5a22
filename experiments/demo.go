package experiments

import (
	"embed"
	"io/fs"
)

// The variables the demo drills name; see drills/README.md.
const (
	VarShopURL       = "SHOP_URL"
	VarShopPprof     = "SHOP_PPROF"
	VarPaymentsProxy = "PAYMENTS_PROXY"
	VarPaymentsAddr  = "PAYMENTS_ADDR"
)

//go:embed drills/*.yaml
var demoFiles embed.FS

// DemoFS holds the demo drills (drills/*.yaml), embedded so that the
// aftershock binary carries them.
var DemoFS fs.FS = mustSub(demoFiles, "drills")

// DemoDrills loads the embedded demo drills, in file name order. Pass the
// addresses with WithVars (VarShopURL, VarPaymentsProxy, VarPaymentsAddr,
// optionally VarShopPprof).
func DemoDrills(opts ...Option) ([]*Drill, error) {
	return LoadFS(DemoFS, "drills", opts...)
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embed pattern guarantees dir exists
	}
	return sub
}
