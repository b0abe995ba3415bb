"""dialerd.api"""
