// Package orgs is the sandbox's AWS Organizations: the organization (accounts in nested OUs,
// tags, CreateAccount requests that complete by the clock), its API over awsJson1_1, and the
// organizations a sandbox starts with, generated from a seed or read from a YAML file.
package orgs
