"""dialerd.cli"""
