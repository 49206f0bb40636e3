package cfntemplate

import (
	"container/heap"
	"slices"
)

// Dependencies returns, for every resource, the resources it must be created after: its
// DependsOn plus every resource it references through Ref, Fn::GetAtt or Fn::Sub in its
// Properties or Metadata, including both branches of every Fn::If. Each list is in declaration
// order; the result is a fresh copy.
func (t *Template) Dependencies() map[string][]string {
	out := make(map[string][]string, len(t.deps))
	for k, v := range t.deps {
		out[k] = slices.Clone(v)
	}
	return out
}

// CreationOrder returns every resource's logical ID in an order that creates dependencies
// first. Among resources that are ready at the same time declaration order wins, so the order
// is deterministic. Deletion uses the reverse (DeletionOrder). A dependency cycle is reported
// as CloudFormation reports it.
func (t *Template) CreationOrder() ([]string, error) {
	ids := make([]string, len(t.Resources))
	for i, r := range t.Resources {
		ids[i] = r.LogicalID
	}
	sorted, stuck := topoSort(ids, t.deps)
	if len(stuck) > 0 {
		return nil, errorf("Circular dependency between resources: %s", list(stuck))
	}
	return sorted, nil
}

// DeletionOrder is the reverse of CreationOrder: dependents are deleted before what they
// depend on.
func (t *Template) DeletionOrder() ([]string, error) {
	order, err := t.CreationOrder()
	slices.Reverse(order)
	return order, err
}

// Skipped returns, in declaration order, the resources whose Condition is false under conds
// (from EvalConditions); CloudFormation does not create them.
func (t *Template) Skipped(conds map[string]bool) []string {
	var out []string
	for _, r := range t.Resources {
		if r.Condition != "" && !conds[r.Condition] {
			out = append(out, r.LogicalID)
		}
	}
	return out
}

// topoSort is Kahn's algorithm that always emits the earliest-declared ready node. stuck lists,
// in declaration order, the nodes left over because they are on or behind a cycle.
func topoSort(order []string, deps map[string][]string) (sorted, stuck []string) {
	index := make(map[string]int, len(order))
	for i, n := range order {
		index[n] = i
	}
	pending := make([]int, len(order))      // unmet dependencies per node
	dependents := make([][]int, len(order)) // reverse edges
	for i, n := range order {
		seen := map[int]bool{}
		for _, d := range deps[n] {
			j, ok := index[d]
			if !ok || seen[j] {
				continue
			}
			seen[j] = true
			pending[i]++
			dependents[j] = append(dependents[j], i)
		}
	}
	ready := &intHeap{}
	for i := range order {
		if pending[i] == 0 {
			heap.Push(ready, i)
		}
	}
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		sorted = append(sorted, order[i])
		for _, j := range dependents[i] {
			if pending[j]--; pending[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	for i, n := range order {
		if pending[i] > 0 {
			stuck = append(stuck, n)
		}
	}
	return sorted, stuck
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
