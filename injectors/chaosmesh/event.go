package chaosmesh

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EventSource is the component that records aftershock's Events.
const EventSource = "aftershock"

// Event records a drill's verdict as a Kubernetes Event on its namespace
// (the namespace is the involved object), so that `kubectl get events`
// and the cluster's alerting see every scheduled run: reason DrillPassed
// (type Normal) or DrillFailed (type Warning), message the short verdict,
// labelled with the drill and this process's run. Events need "create" on
// events in the namespace, which a scheduled drill's Role grants.
func (k *Cluster) Event(ctx context.Context, namespace, drill string, passed bool, message string) error {
	reason, typ := "DrillPassed", corev1.EventTypeNormal
	if !passed {
		reason, typ = "DrillFailed", corev1.EventTypeWarning
	}
	now := time.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "aftershock-" + drill + "-",
			Namespace:    namespace,
			Labels:       map[string]string{LabelDrill: drill, LabelRun: k.run},
		},
		// The API server refuses an Event whose involved object's
		// namespace is not the Event's own (an empty one passes only in
		// "default"), even for a Namespace, which has none.
		InvolvedObject:      corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: namespace, Namespace: namespace},
		Reason:              reason,
		Message:             message,
		Type:                typ,
		Source:              corev1.EventSource{Component: EventSource},
		FirstTimestamp:      metav1.NewTime(now),
		LastTimestamp:       metav1.NewTime(now),
		Count:               1,
		ReportingController: "aftershock.dev/drill",
		ReportingInstance:   k.run,
	}
	if err := k.do(ctx, "create Event in namespace "+namespace, func(ctx context.Context) error { return k.c.Create(ctx, ev) }); err != nil {
		return fmt.Errorf("event %s on namespace %s: %w", reason, namespace, err)
	}
	return nil
}
