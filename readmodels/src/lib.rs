//! Read-model migrations, typed rows and the lms.query.v1 query API (issue #4).
