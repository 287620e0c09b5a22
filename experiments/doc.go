// Package experiments holds the Drill file — the contract between the people
// who write chaos drills and aftershock — and, beside it, the runner that
// executes drills.
//
// The file layer: the types (drill.go), the value types for durations,
// sizes and percentages (units.go), strict loading (parse.go, decode.go),
// problems with positions (problems.go), validation (validate.go,
// validate_faults.go, what each engine can honour in engines.go, Chaos
// Mesh's own webhook checks in chaosmesh.go), ${VAR} expansion (env.go), the
// blast-radius guard (guard.go), accessors that give fault blocks as Go
// values for the runner (faults.go), and the demo drills (demo.go, drills/).
//
// Loading is strict and complete: every unknown field, bad value, bad
// reference and fault the chosen engine cannot honour is reported at once,
// each as "file:line:col: field.path: what is wrong; allowed: ...". Field
// paths use the YAML (JSON) field names and zero-based indices, as
// Kubernetes' field.Path does: spec.faults[1].networkChaos.action.
package experiments
