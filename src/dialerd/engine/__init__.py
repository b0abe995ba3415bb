"""dialerd.engine"""
