package postgres

// The pg_advisory_lock keys regapi takes, all in one place so that no two purposes share one:
// "regapi" in ASCII, then a number. Advisory locks are per database.
const (
	// migrationLockKey: every migrator of a regapi database takes it, so that two processes
	// migrating at once take turns.
	migrationLockKey int64 = 0x72656761_70690001
	// retentionLockKey: the process applying retention holds it, one at a time across a
	// deployment; the others skip their pass.
	retentionLockKey int64 = 0x72656761_70690002
	// TestTemplateLockKey: the test helpers (pgtest) hold it on the admin database while they
	// create the migrated template that test databases are cloned from.
	TestTemplateLockKey int64 = 0x72656761_70690003
)
