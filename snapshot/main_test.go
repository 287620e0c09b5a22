package snapshot_test

import (
	"os"
	"testing"

	_ "net/http/pprof" // a real pprof for the robustness tests

	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

func TestMain(m *testing.M) {
	snapshottest.ServeIfTarget()
	os.Exit(m.Run())
}
