"""A second wall, enforced by the browser: a Content-Security-Policy per consent state.

Prior blocking rewrites the markup, but an inline script can still build a tracker URL at run
time. `policy.CspPolicies` gives every rewritten page a policy allowing only `'self'`, the
operator's essential hosts and the hosts of the purposes this visitor granted;
`reports.CspViolations` aggregates the browsers' violation reports and `report_api.CspReportApi`
receives them at `POST {prefix}/csp-report`.
"""
