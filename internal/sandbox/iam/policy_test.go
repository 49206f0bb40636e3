package iam

import "testing"

func TestTrustPolicyAllows(t *testing.T) {
	const org = "o-abcdefghij"
	user := Principal{Account: "111111111111", ARN: "arn:aws:iam::111111111111:user/sandbox-admin"}
	session := Principal{
		Account: "222222222222", ARN: "arn:aws:sts::222222222222:assumed-role/Ops/s",
		RoleARN: "arn:aws:iam::222222222222:role/Ops",
	}
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	tests := []struct {
		name   string
		policy string
		caller Principal
		extID  string
		want   bool
	}{
		{"account id", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}`), user, "", true},
		{"root arn", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}`), user, "", true},
		{"other account", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"sts:AssumeRole"}`), user, "", false},
		{"user arn", stmt(`{"Effect":"Allow","Principal":{"AWS":["x","arn:aws:iam::111111111111:user/sandbox-admin"]},"Action":"sts:AssumeRole"}`), user, "", true},
		{"role arn admits session", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/Ops"},"Action":"sts:AssumeRole"}`), session, "", true},
		{"session arn", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::222222222222:assumed-role/Ops/s"},"Action":"sts:AssumeRole"}`), session, "", true},
		{"service Principal", stmt(`{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}`), user, "", false},
		{"wildcard action", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:*"}`), user, "", true},
		{"other action", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:TagSession"}`), user, "", false},
		{"star with org condition", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + org + `"}}}`), user, "", true},
		{"star with other org", stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":["o-zzzzzzzzzz"]}}}`), user, "", false},
		{"star without condition", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), user, "", true},
		{"deny wins", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}`), user, "", false},
		{"deny other", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"sts:AssumeRole"}`), user, "", true},
		{"single statement object", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":["sts:AssumeRole"]}}`, user, "", true},
		{"external id required", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"abc"}}}`), user, "", false},
		{"external id given", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"abc"}}}`), user, "abc", true},
		{"unknown operator", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"NumericWeird":{"aws:PrincipalAccount":"1"}}}`), user, "", false},
		{"like on Principal arn", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::222222222222:role/*"}}}`), session, "", true},
		{"null true, key absent", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":"true"}}}`), user, "", true},
		{"null true, key present", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":"true"}}}`), user, "x", false},
		{"null false, key present", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":"false"}}}`), user, "x", true},
		{"null false, key absent", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":false}}}`), user, "", false},
		{"not action", stmt(`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"NotAction":"sts:TagSession"}`), user, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(tt.policy)
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			got := p.Allows(RequestContext{Caller: tt.caller, OrgID: org, Action: "sts:AssumeRole", ExternalID: tt.extID})
			if got != tt.want {
				t.Errorf("allows = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, doc := range []string{
		``, `{`, `[]`, `{"Version":"2012-10-17"}`,
		`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"someone","Action":"*"}]}`,
	} {
		if _, err := ParsePolicy(doc); err == nil {
			t.Errorf("ParsePolicy(%q) succeeded, want error", doc)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}`,
		`{"Statement":{"Effect":"Deny","NotPrincipal":"*","NotAction":["sts:*"],"Condition":{"StringLikeIfExists":{"aws:PrincipalArn":["a*"]},"Bool":{"aws:MultiFactorAuthPresent":true}}}}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"],"Service":"x"},"Action":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":7}}}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := ParsePolicy(doc)
		if err != nil {
			return
		}
		_ = p.Allows(RequestContext{
			Caller: Principal{Account: "111111111111", ARN: "arn:aws:iam::111111111111:user/u"},
			OrgID:  "o-abcdefghij", Action: "sts:AssumeRole",
		})
	})
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"sts:*", "sts:AssumeRole", true},
		{"STS:assumerole", "sts:AssumeRole", true},
		{"sts:Assume?ole", "sts:AssumeRole", true},
		{"s3:*", "sts:AssumeRole", false},
		{"*", "anything/with/slashes", true},
		{"arn:aws:iam::*:role/*", "arn:aws:iam::1:role/path/x", true},
		{"a[b", "a[b", true},
		{"a[*", "a[b", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.value); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
}
