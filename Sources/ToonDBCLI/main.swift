print("toondb")
