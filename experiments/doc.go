// Package experiments holds the Drill file — the contract between the people
// who write chaos drills and aftershock — and, beside it, the runner that
// executes drills.
//
// This part of the package is the file layer: the types (drill.go), the value
// types for durations, sizes and percentages (units.go), strict loading with
// precise errors (load.go, decode.go, problems.go), validation (validate.go,
// engines.go, chaosmesh.go), ${VAR} expansion (env.go), the blast-radius guard
// (guard.go) and mapping-neutral accessors the runner turns into injector
// configurations (faults.go).
//
// Loading is strict and complete: every unknown field, bad value, bad
// reference and fault the chosen engine cannot honour is reported at once,
// each as "file:line:col: field.path: what is wrong; allowed: ...". Field paths
// use the YAML (JSON) field names and zero-based indices, as Kubernetes'
// field.Path does: spec.faults[1].networkChaos.action.
package experiments
