print("toondb-server")
