"""Running the dbt project in sql/ on the loaded data: the build, its profile, seeds, account time zones, Spark."""
