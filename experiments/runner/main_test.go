package runner_test

import (
	"os"
	"testing"

	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

func TestMain(m *testing.M) {
	snapshottest.ServeIfTarget()
	os.Exit(m.Run())
}
