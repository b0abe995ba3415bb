"""dialerd.sim"""
