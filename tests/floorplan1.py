"""Object ids of the real FloorPlan1 scene (ai2thor 5.0.0) and the agent start the offline
simulator tests share."""

APPLE = "Apple|-00.47|+01.15|+00.48"
FRIDGE = "Fridge|-02.10|+00.00|+01.07"
KNIFE = "Knife|-01.70|+00.79|-00.22"
MUG = "Mug|-01.76|+00.90|-00.62"
MICROWAVE = "Microwave|-00.24|+01.69|-02.53"
POTATO = "Potato|-01.66|+00.93|-02.15"
EGG = "Egg|-02.04|+00.81|+01.24"
BREAD = "Bread|-00.52|+01.17|-00.03"
TOASTER = "Toaster|-01.84|+00.90|+00.13"
COFFEE = "CoffeeMachine|-01.98|+00.90|-00.19"
BASIN = "Sink|-01.90|+00.97|-01.50|SinkBasin"
FAUCET = "Faucet|-02.15|+00.91|-01.50"
POT = "Pot|-01.22|+00.90|-02.36"
COUNTER = "CounterTop|-00.08|+01.15|00.00"
DRAWER = "Drawer|-01.56|+00.66|-00.20"
SHELF = "Shelf|+01.75|+00.17|-02.56"
START = {
    "position": {"x": -1.0, "y": 0.901, "z": 1.0},
    "rotation": {"x": 0, "y": 270, "z": 0},
    "cameraHorizon": 0.0,
    "isStanding": True,
}
