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

// The variables the gRPC demo drills name.
const (
	VarGRPCURL        = "GRPC_URL"
	VarGRPCPprof      = "GRPC_PPROF"
	VarInventoryProxy = "INVENTORY_PROXY"
	VarInventoryAddr  = "INVENTORY_ADDR"
)

//go:embed drills/*.yaml drills/cluster/*.yaml drills/grpc/*.yaml
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

// ClusterFS holds the shipped cluster drills (drills/cluster/*.yaml): a
// partition, a slow upstream and a 503 storm submitted to Chaos Mesh
// against a labelled Deployment, each runnable in the cluster (see
// `aftershock render --schedule`) and from a laptop.
var ClusterFS fs.FS = mustSub(demoFiles, "drills/cluster")

// ClusterDrills loads the shipped cluster drills, in file name order.
func ClusterDrills(opts ...Option) ([]*Drill, error) {
	return LoadFS(ClusterFS, "drills/cluster", opts...)
}

// GRPCFS holds the gRPC demo drills (drills/grpc/*.yaml): upstream calls
// answered Unavailable, and held past the gRPC demo shop's give-up.
var GRPCFS fs.FS = mustSub(demoFiles, "drills/grpc")

// GRPCDrills loads the gRPC demo drills, in file name order. Pass the
// addresses with WithVars (VarGRPCURL, VarGRPCPprof, VarInventoryProxy,
// VarInventoryAddr).
func GRPCDrills(opts ...Option) ([]*Drill, error) {
	return LoadFS(GRPCFS, "drills/grpc", opts...)
}
