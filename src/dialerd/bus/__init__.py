"""dialerd.bus"""
