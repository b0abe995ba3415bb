"""dialerd.ami"""
