import DataPlane

BerthProxy.main()
