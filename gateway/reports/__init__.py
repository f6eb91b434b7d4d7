"""What the city's decision asks of the department for citizens' appeals: daily monitoring of
deadlines (6.1), weekly notices to executors about missed deadlines (6.2), weekly and monthly reports
on ineffective executors to the deputy mayors (6.3) and the repeat-request figures (2.2).

overdue.py   the deadline monitor: overdue marking (once) and snapshots
periods.py   Monday–Sunday weeks and months in Kyiv time
figures.py   per-executor figures for any period, from request history (every executor, integrated or not)
directory.py deputy mayors, the threshold and the recipients (data files)
chart.py     the SVG bar chart (matplotlib, Agg)
render.py    CSV, the HTML report and the notices, in Ukrainian
delivery.py  the reports folder and e-mail through an Airflow SMTP connection
build.py     one call that computes, renders, writes and sends a report
"""
