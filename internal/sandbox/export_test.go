package sandbox

// PutRoleForTest creates an IAM role as a stack would, for tests of the external package.
func PutRoleForTest(s *Sandbox, account, name, trust string) (Role, error) {
	r, err := s.roles.Put(account, name, "/", trust, "", s.now())
	if err != nil {
		return Role{}, err
	}
	return *r, nil
}
