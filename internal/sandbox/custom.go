package sandbox

import (
	"errors"
	"maps"
	"slices"
	"sync"

	"github.com/stackfleet/stackfleet/internal/sandbox/cfn"
)

// CustomResponse says how simulated custom resources (Custom::*,
// AWS::CloudFormation::CustomResource) answer, since no function runs behind their
// ServiceToken. Empty match fields match anything; the most recently set matching response
// wins; without one a custom resource succeeds with no data.
type CustomResponse struct {
	// Match: the resource's ServiceToken, type (e.g. Custom::Lookup) and logical id.
	ServiceToken string `json:"serviceToken,omitempty"`
	ResourceType string `json:"resourceType,omitempty"`
	LogicalID    string `json:"logicalId,omitempty"`
	// Data are the resource's attributes (Fn::GetAtt Resource.Key).
	Data map[string]any `json:"data,omitempty"`
	// PhysicalResourceID replaces the generated physical id on create.
	PhysicalResourceID string `json:"physicalResourceId,omitempty"`
	// Reason, when set, fails Create and Update requests with it ("Received response status
	// [FAILED] from custom resource. Message returned: <Reason>").
	Reason string `json:"reason,omitempty"`
}

type customResponses struct {
	mu   sync.Mutex
	list []CustomResponse
}

func (c *customResponses) add(r CustomResponse) error {
	if r.ServiceToken == "" && r.ResourceType == "" && r.LogicalID == "" && r.Data == nil && r.PhysicalResourceID == "" && r.Reason == "" {
		return errors.New("a custom response needs a match (serviceToken, resourceType, logicalId) or an answer (data, physicalResourceId, reason)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, r)
	return nil
}

func (c *customResponses) snapshot() []CustomResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

func (c *customResponses) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = nil
}

func (c *customResponses) answer(resourceType, logicalID, serviceToken, request string) cfn.CustomResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range slices.Backward(c.list) {
		if (r.ServiceToken == "" || r.ServiceToken == serviceToken) && (r.ResourceType == "" || r.ResourceType == resourceType) &&
			(r.LogicalID == "" || r.LogicalID == logicalID) {
			out := cfn.CustomResponse{PhysicalResourceID: r.PhysicalResourceID, Data: maps.Clone(r.Data)}
			if request != "Delete" {
				out.Reason = r.Reason
			}
			return out
		}
	}
	return cfn.CustomResponse{}
}

// SetCustomResponse adds a custom resource response (see CustomResponse).
func (s *Sandbox) SetCustomResponse(r CustomResponse) error { return s.custom.add(r) }

// CustomResponses returns the custom resource responses, oldest first.
func (s *Sandbox) CustomResponses() []CustomResponse { return s.custom.snapshot() }

// ClearCustomResponses removes every custom resource response.
func (s *Sandbox) ClearCustomResponses() { s.custom.clear() }

// CustomResource answers a custom resource request from the responses set.
func (e effects) CustomResource(_, _, _, logicalID, resourceType, serviceToken, request string) cfn.CustomResponse {
	return e.s.custom.answer(resourceType, logicalID, serviceToken, request)
}
