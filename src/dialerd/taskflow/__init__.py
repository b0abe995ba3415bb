"""dialerd.taskflow"""
