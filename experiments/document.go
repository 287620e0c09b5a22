package experiments

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Document is a loaded drill as a YAML document (maps and lists), with
// its defaults filled in and its ${VAR}s expanded: what a search edits —
// its faults, a magnitude — before ParseDocument loads the result as
// strictly as any Drill file.
func (d *Drill) Document() (map[string]any, error) {
	raw, err := yaml.Marshal(d)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// ParseDocument loads an edited Document under name (problems cite it, so
// name it after what was generated, not after the drill's file), and
// returns the drill and its YAML.
func ParseDocument(name string, doc map[string]any) (*Drill, []byte, error) {
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	d, err := Parse(name, out)
	return d, out, err
}

// RefuseCluster says why what (a search) cannot run d: it runs drills on
// this machine, and d has faults on engine chaos-mesh. nil when it has
// none.
func (d *Drill) RefuseCluster(what string) error {
	if !d.NeedsCluster() {
		return nil
	}
	return fmt.Errorf("drill %s: %s runs drills on this machine; faults on engine chaos-mesh are not searched yet", d.Metadata.Name, what)
}
