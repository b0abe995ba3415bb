"""dialerd.pacing"""
