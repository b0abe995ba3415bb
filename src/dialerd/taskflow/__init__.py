"""dialerd.taskflow: the pure rules that move contacts between tasks, and task executors.

``rules.match_rule`` picks the taskflow rule; ``call.call_outcome``/``disposition_outcome``
decide a call task's new status; ``decide.transition_for`` turns that into a
``dialerd.domain.changes.Transition`` that ``Store.apply_transition`` persists atomically.
"""
