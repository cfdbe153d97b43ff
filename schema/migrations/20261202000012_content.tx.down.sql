DROP VIEW reporting.known_exploited;
DROP VIEW known_exploited_current;
DROP TABLE known_exploited, content_versions;
