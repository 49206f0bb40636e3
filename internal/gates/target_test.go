package gates_test

import "github.com/stackfleet/stackfleet/internal/fleet"

var target = fleet.GateTarget{
	Account: "222222222222", Region: "eu-west-1", Stack: "web",
	Outputs: map[string]string{"LoadBalancerDNS": "lb.example.com", "ApiId": "abc123", "dash-key": "d"},
}
