"""The machinery that executes the course: the command line, notebook execution, the task graph,
sweeps, results files and the index page. Imports anything below it; nothing imports it back."""
