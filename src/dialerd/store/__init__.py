"""dialerd.store"""
