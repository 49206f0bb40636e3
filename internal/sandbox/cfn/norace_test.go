//go:build !race

package cfn_test

const raceEnabled = false
